"""The network family: VPC, subnets, route tables, gateways, Elastic IPs, security groups, the VPC's
defaults and its flow log, over the EC2 handler base they share (ec2.py)."""
