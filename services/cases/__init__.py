"""What every case type shares: commands declared once in a table (`commands`), one
service that runs any row (`service`), and one factory of HTTP routes (`routes`)."""
