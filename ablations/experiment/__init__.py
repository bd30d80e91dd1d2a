"""What an experiment is: config dataclasses and their parsing, the sweep file (shipped as
package data, ``sweeps.yaml``), the paper's published numbers, and the plan (tables -> cells
-> configurations -> runs). Pure data: no training, no stores."""
