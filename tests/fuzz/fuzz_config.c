/*
 * fuzz_config.c - libFuzzer target for the vpxid configuration parser: the
 * input is written to a file and loaded. Whatever loads must print with
 * config_show() and load again to the same printout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vpxid/config.c"
#include "vpxid/log.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/vpxi-fuzz-config-XXXXXX", err[CFG_ERR_MAX];
    char *out1 = NULL, *out2 = NULL;
    size_t n1 = 0, n2 = 0;
    struct config *c, *c2;
    FILE *f;
    int fd = mkstemp(path);

    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    if ((c = config_load(path, err, sizeof(err))) != NULL) {
        f = open_memstream(&out1, &n1);
        config_show(c, f);
        fclose(f);
        /* the printout is itself a valid configuration with the same meaning */
        if ((f = fopen(path, "w")) != NULL) {
            fwrite(out1, 1, n1, f);
            fclose(f);
            if ((c2 = config_load(path, err, sizeof(err))) == NULL)
                abort();
            f = open_memstream(&out2, &n2);
            config_show(c2, f);
            fclose(f);
            if (n1 != n2 || memcmp(out1, out2, n1) != 0)
                abort();
            config_free(c2);
        }
        free(out1);
        free(out2);
        config_free(c);
    } else if (!err[0]) {
        abort(); /* every refusal explains itself */
    }
    unlink(path);
    return 0;
}
