"""What earners receive: email from the outbox, and their own signed self-service page."""
