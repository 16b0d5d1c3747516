"""A term around the grading: collection from inboxes, LMS zips and the exchange, deadlines and late penalties,
rosters and exports for the LMS, the item-analytics report and the similarity aid."""
