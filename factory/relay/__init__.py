"""Site relays: a thin schedd on a site's head node that the factory deploys (launcher), watches
and redeploys (monitor) and submits the entry's pilots to (route). docs/OPERATIONS.md, Site relays."""
