"""The home program as a PDF, attached to the program email for printing.

Uses the Bitstream Vera fonts that ship with reportlab, so dashes, "×" and accented names
print without any font being downloaded.
"""

import io
from pathlib import Path

import reportlab
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer
from reportlab.platypus.flowables import HRFlowable

from assessments.models import Plan

_FONTS = Path(reportlab.__file__).parent / "fonts"
_registered = False


def _register_fonts() -> None:
    global _registered
    if _registered:
        return
    pdfmetrics.registerFont(TTFont("Vera", _FONTS / "Vera.ttf"))
    pdfmetrics.registerFont(TTFont("Vera-Bold", _FONTS / "VeraBd.ttf"))
    _registered = True


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def program_pdf(plan: Plan, *, clinic_name: str, phases: list) -> bytes:
    """``phases``: the plan's phases with ``dates`` and ``items`` (see emails.program_context)."""
    _register_fonts()
    styles = {
        "title": ParagraphStyle("title", fontName="Vera-Bold", fontSize=18, leading=23),
        "h2": ParagraphStyle(
            "h2", fontName="Vera-Bold", fontSize=13, leading=17, spaceBefore=10, spaceAfter=4
        ),
        "h3": ParagraphStyle("h3", fontName="Vera-Bold", fontSize=11, leading=14, spaceBefore=6),
        "body": ParagraphStyle("body", fontName="Vera", fontSize=10, leading=14),
        "muted": ParagraphStyle(
            "muted", fontName="Vera", fontSize=9, leading=12, textColor=colors.HexColor("#4a545e")
        ),
    }
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"Home program for {plan.client.name}",
        author=clinic_name,
    )
    story = [
        Paragraph(_escape(f"Your home program, {plan.client.name}"), styles["title"]),
        Paragraph(
            _escape(
                f"{clinic_name} · from {plan.clinician.name} · starts {plan.starts_on:%A %d %B %Y}"
                if plan.starts_on
                else clinic_name
            ),
            styles["muted"],
        ),
        Spacer(1, 6 * mm),
    ]
    if plan.maintenance:
        story += [
            Paragraph(
                "Your assessment found nothing that needs work, so this is a general maintenance "
                "program to keep your hips and ankles moving well.",
                styles["body"],
            ),
            Spacer(1, 4 * mm),
        ]
    if plan.note:
        story += [
            Paragraph(_escape(f"A note from {plan.clinician.name}"), styles["h3"]),
            Paragraph(_escape(plan.note).replace("\n", "<br/>"), styles["body"]),
            Spacer(1, 4 * mm),
        ]
    for phase in phases:
        story.append(
            Paragraph(
                _escape(f"Phase {phase['number']}: {phase['title']} ({phase['dates']})"),
                styles["h2"],
            )
        )
        story.append(Paragraph(_escape(phase["frequency"]), styles["muted"]))
        for item in phase["items"]:
            block = [
                Paragraph(_escape(f"{item['name']} — {item['dose']}"), styles["h3"]),
                Paragraph(_escape(item["instructions"]), styles["body"]),
            ]
            if item["cues"]:
                block.append(
                    Paragraph(_escape("Cues: " + " · ".join(item["cues"])), styles["body"])
                )
            if item["cautions"]:
                block.append(Paragraph(_escape("Take care: " + item["cautions"]), styles["muted"]))
            story.append(KeepTogether(block))
        if not phase["items"]:
            story.append(Paragraph("No exercises in these weeks.", styles["body"]))
        story.append(HRFlowable(width="100%", color=colors.HexColor("#d8dee4"), spaceBefore=6))
    if plan.reassessment_on:
        story.append(
            Paragraph(
                _escape(
                    f"Then: book a re-assessment in the week of {plan.reassessment_on:%d %B %Y}."
                ),
                styles["h3"],
            )
        )
    story.append(Spacer(1, 4 * mm))
    story.append(
        Paragraph(
            "Stop an exercise that causes sharp pain or makes your knee worse the next day, and "
            "tell your clinician. In an emergency call your local emergency number.",
            styles["muted"],
        )
    )
    document.build(story)
    return buffer.getvalue()
