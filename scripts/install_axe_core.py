"""Install axe-core (the accessibility engine the browser tests run in each page) into the
virtualenv, at one pinned version checked against npm's integrity hash.

Called by scripts/install when the test tools are installed. The tests read
``<venv>/share/axe-core-<version>/axe.min.js`` and never download anything themselves.
Usage: python scripts/install_axe_core.py <venv directory>
"""

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "4.14.1"
URL = f"https://registry.npmjs.org/axe-core/-/axe-core-{VERSION}.tgz"
# npm's "integrity" for that tarball: base64 of its SHA-512.
INTEGRITY = (
    "sha512-"
    "FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
)
# The script the tests evaluate, and the licence (MPL-2.0) that goes with it.
MEMBERS = {"package/axe.min.js": "axe.min.js", "package/LICENSE": "LICENSE"}


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def install(venv: Path) -> Path:
    target = venv / "share" / f"axe-core-{VERSION}"
    if all((target / name).is_file() for name in MEMBERS.values()):
        return target
    # A fixed https address on the npm registry, not a user-supplied URL.
    with urllib.request.urlopen(URL, timeout=60) as response:
        data = response.read()
    found = integrity_of(data)
    if found != INTEGRITY:
        raise SystemExit(
            f"axe-core {VERSION}: the download's integrity is {found}, not {INTEGRITY}"
        )
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member, name in MEMBERS.items():
            source = archive.extractfile(member)
            if source is None:
                raise SystemExit(f"axe-core {VERSION}: {member} is not a file in the package")
            # Written under a temporary name first: an interrupted run leaves no half file
            # that the check above would take for installed.
            partial = target / f"{name}.partial"
            partial.write_bytes(source.read())
            partial.replace(target / name)
    return target


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: install_axe_core.py <venv directory>")
    print(f"axe-core {VERSION} in {install(Path(sys.argv[1]))}")
