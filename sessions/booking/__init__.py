"""Booking: what a client can book and the booking itself.

- slots.py: free times from plain data (working hours, time off, buffers, notice, horizon).
- selectors.py: reads that decide access (who sees which appointment and client), the slot
  rules of a service, what is bookable and under which consents.
- services.py: booking, rescheduling and cancelling, each in one transaction with its audit row.
- availability.py: a clinician's working hours, time off and extra hours.
- emails.py, calendar.py, links.py: the emails of a booking, its calendar invitation, and the
  signed links in them (manage, join).
- forms.py and views/: the booking journey, the emailed manage links, working hours, the .ics.

Below the live room (sessions.room), which may import it, never the other way
(.importlinter).
"""
