"""View analytics: the in-memory counter flushed in batches, the statistics routes, CDN log
import (docs/analytics.md)."""
