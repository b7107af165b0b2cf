-- Broker and data-vendor credentials entered through the API, encrypted with AES-256-GCM
-- under PI5_SECURITY__CREDENTIALS_KEY (pi5trading.storage.credentials): the secret is only
-- in ciphertext; key_id names the key that encrypted it (for rotation).
CREATE TABLE credentials (
    provider   TEXT PRIMARY KEY,
    ciphertext TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    hint       TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL,
    updated_by TEXT
) STRICT;
