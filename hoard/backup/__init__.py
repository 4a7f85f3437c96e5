"""``hoard backup`` and ``hoard restore``: a client of any S3 endpoint, Hoard's or not.

It talks S3 (boto3) to the bucket it copies from or restores into, and keeps a backup as a
folder, or as the same files stored as objects in a bucket of another endpoint. Nothing here
imports the server: the layer contract in pyproject.toml says so. The modules, one job each:

times.py    timestamps as the format writes them, and ``--as-of`` as users type it
records.py  a backed-up version, the manifest's entries and the catalog they add up to (pure)
plan.py     what a run has to copy, what a restore has to write (pure)
store.py    where a backup's files live: a folder (durable writes) or a bucket
archive.py  the backup format on a store: marker, data files, manifest chunks, journal, configs
connect.py  boto3 clients for an endpoint, and S3's errors in one line
source.py   reading a bucket: its versions, their bytes and metadata, its configuration
target.py   writing a bucket: versions with their metadata, tags and locks, its configuration
engine.py   one backup run; restore.py one restore; verify.py the check of a backup on its own
"""
