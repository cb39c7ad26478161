"""Stand-in chainfire, flaredb and iam services over pysyncobj Raft."""
