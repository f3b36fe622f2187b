"""Open311 GeoReport v2: the civic intake standard onto the complaint intake."""
