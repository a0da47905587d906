#include "tape_space.h"

#include <cerrno>
#include <climits>
#include <cstring>
#include <sys/ioctl.h>
#include <sys/mtio.h>

#include "device.h"

namespace acedt {

SpaceOutcome spaceRecords(int fd, long count) {
  SpaceOutcome out;
  int err = 0;
  out.before = tapePosition(fd, &err);
  long left = count;
  while (left > 0) {
    // mt_count is an int: a long skip goes in several steps.
    struct mtop op = {MTFSR, static_cast<int>(left > INT_MAX ? INT_MAX : left)};
    if (ioctl(fd, MTIOCTOP, &op) == 0) {
      left -= op.mt_count;
      continue;
    }
    out.err = errno;
    // st fails MTFSR with EIO when SPACE meets a filemark; the tape is then just past it
    // (drivers/scsi/st.c, st_int_ioctl: SENSE_FMK bumps the file number). MTIOCGET says which.
    struct mtget g;
    std::memset(&g, 0, sizeof g);
    if (ioctl(fd, MTIOCGET, &g) == 0 && GMT_EOF(g.mt_gstat)) {
      out.filemark = true;
      out.err = 0;
    }
    break;
  }
  out.after = tapePosition(fd, &err);
  if (left == 0) {
    out.spaced = count;
  } else if (out.before >= 0 && out.after >= 0) {
    // Logical object numbers count the filemark as one object (behaviour note 10).
    out.spaced = out.after - out.before - (out.filemark ? 1 : 0);
  } else {
    out.spaced = -1;
  }
  return out;
}

}  // namespace acedt
