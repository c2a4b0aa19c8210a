"""SLA arithmetic: durations, opening hours and due times, counted to the minute.

Pure code on the standard library only: it never imports pydantic, SQLAlchemy, the
`holidays` package or anything else outside the stdlib, and never does I/O or reads
a clock. Callers pass in every instant, calendar and holiday date it needs.
"""
