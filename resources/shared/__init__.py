"""Account-level resources: one per account and region, shared by every environment of the tool
rather than owned by one (the API Gateway CloudWatch role setting)."""
