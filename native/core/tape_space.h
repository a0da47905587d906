// Moving a tape forward over records without reading them (MTIOCTOP MTFSR, st(4)): what
// `mirror inspect` does to jump over blob bodies. No napi here (STYLE: the core builds alone).
#pragma once

namespace acedt {

struct SpaceOutcome {
  long spaced = 0;          // records passed (-1: unknown, the drive could not say where it is)
  bool filemark = false;    // the space stopped after a filemark: the tape file ended first
  int err = 0;              // errno of MTFSR when it failed for another reason
  long before = -1, after = -1;  // MTIOCPOS around the move (-1 when the drive cannot tell)
};

// Space forward over `count` records on fd (an open st device). Blocks for as long as the drive
// takes: call it off the event loop.
SpaceOutcome spaceRecords(int fd, long count);

}  // namespace acedt
