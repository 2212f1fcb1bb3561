/* The file seam's shared helpers (lib/io/fs.h): the under-the-root check
 * both backends apply, and freeing a listing. */
#include "lib/io/fs.h"

#include <stdlib.h>
#include <string.h>

bool io_fs_path_under(const char *real, const char *root)
{
	size_t rl = strlen(root);

	if (strncmp(real, root, rl) != 0)
		return false;
	return real[rl] == '\0' || real[rl] == '/' || (rl == 1 && root[0] == '/');
}

void io_fs_dirents_free(struct io_fs_dirent *d, ssize_t n)
{
	for (ssize_t i = 0; d && i < n; i++)
		free(d[i].name);
	free(d);
}
