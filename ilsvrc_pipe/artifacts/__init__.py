"""What the stages write and read back: the artifact map (:mod:`.paths`), the tables
they hand each other (:mod:`.tables`) and result tables written as parts (:mod:`.parts`)."""
