"""Evidence packages (`docctl.evidence_package` v1): a zip a person checks with no database and no server.

- `layout`: the members' names, the signed package manifest, `MANIFEST.sha256` and the README text. Pure.
- `verify`: `verify_package(path)`, every check as a named problem naming the member. Pure: the standard library,
  `cryptography` and docctl's pure format helpers (`docctl.audit.*` formats, `docctl.signatures` verification),
  never the database, the settings or the web.
- `record_pdf`: the human-readable certified copy (reportlab).

The services (`docctl.services.evidence`) gather the records and write the zip.
"""
