"""The demo shop and its seed data (`make run`): a walkthrough of the hub with nothing of your own."""
