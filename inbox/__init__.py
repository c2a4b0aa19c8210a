"""inbox: a support inbox that turns email into tickets and keeps SLA promises."""

__version__ = "0.1.0"
