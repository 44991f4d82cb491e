"""The security family: IAM roles, the environment's KMS key, secrets with their policies, log groups."""
