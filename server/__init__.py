"""The MLaaS inference server: serves probability vectors of the deployed model version, nothing else."""
