"""pinpoint-sync: keeps Pinpoint ATS in step with SourceWhale campaign events."""

__version__ = "0.1.0"
