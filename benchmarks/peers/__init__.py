"""Side by side: the raw libvips floor, bare aiohttp baselines, thumbor and ipx."""
