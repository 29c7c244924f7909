"""Frames folders: which frames to sample (plan), building a folder from videos (build), reading one (folder)."""
