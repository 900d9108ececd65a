"""The pure domain of pinpoint-sync.

Event and settings models, policy resolution and the decision function. This package imports
pydantic and the standard library only: no Kafka, HTTP, database, metrics or logging. It takes data
in and returns decisions; the adapters at the edge carry them out.

Modules:

- `enums`: every semantic value (event types, channels, note types, outcomes, reasons, ...).
- `errors`: `InvalidEvent` and `InvalidSettings`, with a typed reason and a detail.
- `events`: the CloudEvents contract of the campaign events and `parse_event`.
- `settings`: the team settings document and `parse_settings`.
- `policy`: `resolve_policy`, team settings + user overrides + lock → `EffectivePolicy`.
- `fields`: field mapping (string, list, social variables, tagging) and the mandatory check.
- `notes`: the note (Pinpoint comment) text and its reference marker.
- `decision`: `decide`, the pure decision function, its actions and the candidate's sync state.
- `outcome`: the outcome record published for every processed event.
- `schemagen`: JSON Schemas and the AsyncAPI document generated from the models.
"""
