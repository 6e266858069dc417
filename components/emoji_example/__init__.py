"""The built-in image example on real images: Twemoji icons (RGBA PNGs) classified by Unicode emoji category."""
