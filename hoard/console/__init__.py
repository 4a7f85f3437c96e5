"""The web console: server-rendered pages on a listener of their own, served by the leader process.

Every action a page takes is an S3 or admin API request signed with the logged-in user's own keys,
so the same authentication and policy engine that answers the AWS CLI decides what the console may do.
"""
