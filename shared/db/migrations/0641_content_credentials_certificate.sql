-- A workspace's own claim-signing certificate chain (issue 17): DER
-- certificates, end entity first, issued by the customer's (trust-list) CA
-- for the workspace's derived signing key (its CSR is served by
-- GET …/content-credentials/csr). NULL: Framebroker's root issues one.
ALTER TABLE content_credentials_settings ADD COLUMN certificate_chain bytea[]
  CHECK (certificate_chain IS NULL OR cardinality(certificate_chain) BETWEEN 1 AND 8);
