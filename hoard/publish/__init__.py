"""``hoard publish``: a client of any S3 endpoint, Hoard's or not, that keeps a package index in
a bucket. Nothing here imports the server: it talks S3 (boto3, through hoard/backup/connect.py's
clients) like any other client. The modules, one job each:

distfiles.py  wheels and sdists read: core metadata (METADATA, PKG-INFO), PEP 503 names,
              file-name checks, digests (pure but for reading the local file)
simple.py     the index's keys in the bucket and its PEP 503 pages (pure)
policy.py     --public: the public-read statement merged into a bucket policy (pure)
pypi.py       one run: files uploaded, pages regenerated from the bucket's listing, the policy set
"""
