"""Media handling shared by the buffer and the clipper: timelines of packets and MP4 stream copy."""
