"""Learned rewards for the RLHF case study: preference data, reward models, the KL penalty."""
