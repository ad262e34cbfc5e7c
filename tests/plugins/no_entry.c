/* A shared object that is not a lethe plugin: it exports no entry symbol. */
int no_entry_answer(void);

int no_entry_answer(void)
{
	return 42;
}
