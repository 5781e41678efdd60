"""Golden-image tests: render outputs compared, pixel by pixel, with independent references."""
