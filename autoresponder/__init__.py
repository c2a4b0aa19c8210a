"""Everything outbound: policy, rendering, composing, transport, dispatch, jobs.

Built by a later issue; only `inbox.app` may import it.
"""
