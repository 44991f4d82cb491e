"""The data family: the RDS instance, the ElastiCache replication group, their subnet groups, and
EFS with its file-system policy."""
