# The node-gyp route (`npm run build:gyp` = node-gyp rebuild) to the same addon that
# CMakeLists.txt builds with cmake-js: build/Release/ace_dt_native.node. Offline it needs
# `npm config get nodedir` (or --nodedir) pointing at a Node installation with include/node,
# e.g. /usr for Debian's nodejs package.
{
  'targets': [
    {
      'target_name': 'ace_dt_native',
      'sources': [
        'native/wrap/module.cc',
        'native/wrap/common.cc',
        'native/wrap/writer.cc',
        'native/wrap/device.cc',
        'native/core/device.cc',
        'native/core/writer.cc',
        'native/core/tape_space.cc',
      ],
      'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")"],
      'defines': [
        'NAPI_VERSION=8',
        'NAPI_CPP_EXCEPTIONS',
        'NODE_ADDON_API_DISABLE_DEPRECATED',
        # Prevent a crash when an exception is thrown during worker shutdown (nodejs/node-addon-api#975).
        'NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS',
      ],
      'cflags!': ['-fno-exceptions'],
      'cflags_cc!': ['-fno-exceptions', '-fno-rtti', '-std=gnu++17'],
      'cflags_cc': ['-std=c++20', '-fexceptions', '-frtti', '-O2', '-fvisibility=hidden'],
      'ldflags': ['-Wl,-z,relro,-z,now'],
      'conditions': [
        # The streaming zstd compressor only when Debian's libzstd-dev is installed.
        ['"<!(test -f /usr/include/zstd.h && echo 1 || echo 0)"=="1"', {
          'sources': ['native/core/zstd_stream.cc', 'native/wrap/zstd.cc'],
          'defines': ['ACE_DT_HAVE_ZSTD'],
          'libraries': ['-lzstd'],
        }],
      ],
    },
  ],
}
