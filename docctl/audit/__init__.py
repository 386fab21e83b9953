"""The append-only audit trail: canonical events, RFC 6962 Merkle tree, verification."""
