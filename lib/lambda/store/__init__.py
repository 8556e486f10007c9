"""Data access for the handlers: DynamoDB, SQS, SNS and KMS behind small classes.

Nothing in here knows about HTTP or Lambda events, and nothing in `fraud/` imports
from here: the domain stays pure and the handlers wire the two together.
"""
