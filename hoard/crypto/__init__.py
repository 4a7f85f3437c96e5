"""Server-side encryption's building blocks (SSE-S3, SSE-C, SSE-KMS), pure of the server: the
stored format of encrypted bytes (chunks), data keys and the envelopes that seal them (keys), the
key manager interface and its built-in key store (kms), and the customer's keys (customer). Also
AWS Signature Version 4's pure parts (sigv4), which S3, the admin client and the nodes of a
cluster all sign with.

Nothing here imports the S3 layer, the object engine, the index or the drives: they hand in what
is needed (bytes, keys, a document's load and save) and map the errors raised here onto S3's.
See docs/encryption.md.
"""
