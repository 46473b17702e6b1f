"""A simulated expert workforce, standing in for humans in demos and tests.

Clearly separate from the pipeline: the flow does not know it exists. Simulated experts
submit annotations through the Label Studio API as their own users, exactly where real
annotators' submissions would land.
"""
