"""The notifications service: routes task events to professionals, pools and coordinators."""
