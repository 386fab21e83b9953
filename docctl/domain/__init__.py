"""The pure domain: no framework, no ORM, no I/O."""
