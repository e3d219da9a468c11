"""The policy shape for hosts with many sites (issue 11): one shared base module per target, compiled
against the target's headers, and a small CIL module per site generated from the validated model."""
