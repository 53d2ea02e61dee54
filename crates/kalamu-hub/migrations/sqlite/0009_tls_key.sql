-- Kalamu hub, schema 9: the hub's own TLS key and certificate, made on its
-- first start. Laptops pin the certificate at enrolment, so it must outlive
-- any one process: every hub process serving this database presents it.

CREATE TABLE tls_identity (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    certificate BLOB NOT NULL,                -- DER
    private_key BLOB NOT NULL,                -- PKCS#8 DER
    made_at     INTEGER NOT NULL
) STRICT;
