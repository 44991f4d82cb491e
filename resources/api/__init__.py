"""The API family: the API Gateway REST API with its stage, keys, VPC link and execution logs, and the
WAF web ACL in front of it."""
