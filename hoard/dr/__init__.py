"""``hoard dr``: disaster-recovery drills between two Hoard sites, and the commands they fail over
and back with (``hoard dr promote``, ``hoard dr failback``).

Everything here is a client, as an operator is: it starts and kills ``hoard server`` processes
(subprocess), talks S3 to them (boto3) and administers them through the ``hoard`` command
(``hoard admin``, ``hoard backup``, ``hoard restore``), never through the server's code (an
import contract in ``pyproject.toml`` says so). docs/dr.md describes the strategies.
"""
