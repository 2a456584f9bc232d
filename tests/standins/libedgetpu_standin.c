/* STAND-IN for libedgetpu.so.1 (the Edge TPU runtime cannot be installed here, nor an Edge TPU attached).
 * A TFLite external delegate with the same entry points libedgetpu exports to `load_delegate`: it claims no
 * operations, so the model runs on the CPU. It writes the options it was given to the file named by the
 * option `log`, so a test can see that the delegate was loaded with the target's options. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct TfLiteDelegate {
  void* data_;
  int (*Prepare)(void* context, struct TfLiteDelegate* delegate);
  int (*CopyFromBufferHandle)(void* context, struct TfLiteDelegate* delegate, int handle, void* tensor);
  int (*CopyToBufferHandle)(void* context, struct TfLiteDelegate* delegate, int handle, void* tensor);
  void (*FreeBufferHandle)(void* context, struct TfLiteDelegate* delegate, int* handle);
  int64_t flags;
  void* opaque_delegate_builder;
} TfLiteDelegate;

static int prepare_nothing(void* context, TfLiteDelegate* delegate) { (void)context; (void)delegate; return 0; }

static TfLiteDelegate standin;

TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values, size_t count,
                                              void (*report_error)(const char*)) {
  (void)report_error;
  for (size_t i = 0; i < count; i++) {
    if (strcmp(keys[i], "log") == 0) {
      FILE* log = fopen(values[i], "w");
      if (log) {
        for (size_t j = 0; j < count; j++) fprintf(log, "%s=%s\n", keys[j], values[j]);
        fclose(log);
      }
    }
  }
  memset(&standin, 0, sizeof standin);
  standin.Prepare = prepare_nothing;
  return &standin;
}

void tflite_plugin_destroy_delegate(TfLiteDelegate* delegate) { (void)delegate; }
