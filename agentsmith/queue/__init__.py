"""Scaled mode: `agentsmith submit` puts a run on a Celery queue (Redis broker), `agentsmith worker`
processes runs, and every worker shares one PostgreSQL database (agentsmith.store) for checkpoints,
leases, the audit chain and the queue's own bookkeeping (`queue_runs`).

A message is acknowledged only after its run has ended and its branch was delivered, so a worker that
dies mid-run leaves the message to another worker, which resumes the run from its last checkpoint
under the same run id; the run lease makes sure that only one of them drives it.
"""
